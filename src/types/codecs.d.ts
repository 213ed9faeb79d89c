/** The parts of the pure-JavaScript decompressors chpipe's Kafka client uses (neither package ships types). */
declare module 'lz4js' {
  /** An LZ4 frame (the format Kafka's producers write) to its bytes. */
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
}

declare module 'snappyjs' {
  /** A raw Snappy block to its bytes. */
  export function uncompress(src: Uint8Array, maxLength?: number): Uint8Array;
}
