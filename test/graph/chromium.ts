/**
 * Headless Chromium for the graph tests: Debian's `chromium` package,
 * installed with apt-get when its binary is missing (test/helpers/apt.ts),
 * like test/server installs clickhouse-server. Anything missing throws with
 * the reason: never a skip.
 */
import { existsSync } from 'node:fs';
import { PNG } from 'pngjs';
import { readFileSync } from 'node:fs';
import { aptInstall, lastLines, run } from '../helpers/apt.js';

const PACKAGE = 'chromium';
export const CHROMIUM_BIN = '/usr/bin/chromium';

export function ensureChromium(log: (line: string) => void = () => {}): void {
  aptInstall({ name: PACKAGE, binary: CHROMIUM_BIN }, log);
}

/** Open `file` in headless Chromium and save a PNG screenshot of the window. */
export function screenshot(file: string, png: string, size = { width: 1600, height: 1000 }): void {
  const r = run(
    CHROMIUM_BIN,
    ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run', `--user-data-dir=${png}.profile`, `--window-size=${size.width},${size.height}`, `--screenshot=${png}`, `file://${file}`],
    {},
    120_000,
  );
  if (!existsSync(png)) throw new Error(`chromium took no screenshot of ${file}:\n${lastLines(r.out)}`);
}

export interface PixelStats {
  readonly width: number;
  readonly height: number;
  /** Share of pixels that are not (near) white. */
  readonly inked: number;
  /** Distinct colours, quantized to 4 bits per channel. */
  readonly colours: number;
  /** Share of the pixels that are saturated red (the drift highlight's fill and stroke). */
  readonly reddish: number;
}

export function pixelStats(png: string): PixelStats {
  const image = PNG.sync.read(readFileSync(png));
  let inked = 0;
  let reddish = 0;
  const colours = new Set<number>();
  for (let i = 0; i < image.data.length; i += 4) {
    const [r, g, b] = [image.data[i] as number, image.data[i + 1] as number, image.data[i + 2] as number];
    if (r < 240 || g < 240 || b < 240) inked++;
    if (r > 180 && g < 120 && b < 120) reddish++;
    colours.add(((r >> 4) << 8) | ((g >> 4) << 4) | (b >> 4));
  }
  const pixels = image.width * image.height;
  return { width: image.width, height: image.height, inked: inked / pixels, colours: colours.size, reddish: reddish / pixels };
}
