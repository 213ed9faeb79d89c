/**
 * Headless Chromium for the graph tests: Debian's `chromium` package,
 * installed with apt-get when its binary is missing (root only; `apt-get
 * update` once if the package is unknown), like test/server installs
 * clickhouse-server. Anything missing throws with the reason: never a skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PNG } from 'pngjs';
import { readFileSync } from 'node:fs';

const PACKAGE = 'chromium';
export const CHROMIUM_BIN = '/usr/bin/chromium';

function run(cmd: string, args: string[], env: Record<string, string> = {}, timeout = 900_000): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.error) return { ok: false, out: `${r.error.message}\n${out}` };
  return { ok: r.status === 0, out };
}

const lastLines = (text: string, n = 25) => text.trim().split('\n').slice(-n).join('\n');

export function ensureChromium(log: (line: string) => void = () => {}): void {
  if (existsSync(CHROMIUM_BIN)) return;
  if (process.getuid?.() !== 0) throw new Error(`${CHROMIUM_BIN} is missing and installing ${PACKAGE} with apt-get needs root; run as root or install it first (apt-get install --no-install-recommends ${PACKAGE})`);
  const started = Date.now();
  log(`installing ${PACKAGE} with apt-get (once)`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  // Wait for another apt/dpkg (another test run) instead of failing on its lock.
  const install = () => run('apt-get', ['install', '-y', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=600', PACKAGE], env);
  let r = install();
  if (!r.ok) {
    const update = run('apt-get', ['update', '-o', 'DPkg::Lock::Timeout=600'], env);
    if (!update.ok) throw new Error(`apt-get update failed:\n${lastLines(update.out)}`);
    r = install();
  }
  if (!r.ok) throw new Error(`apt-get install ${PACKAGE} failed:\n${lastLines(r.out)}`);
  if (!existsSync(CHROMIUM_BIN)) throw new Error(`apt-get installed ${PACKAGE} but ${CHROMIUM_BIN} is not there`);
  log(`installed ${PACKAGE} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
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
