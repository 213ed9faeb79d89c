/**
 * `chpipe dev` sees every save, however the editor makes it: written in
 * place, written beside and renamed over the file (vim, `sed -i`: "atomic
 * saves"), deleted and created again; new files, files in a folder made
 * later, and a deleted file. Twenty saves in a row through a real dev process,
 * each one applied (it stopped seeing the file after the first rename).
 */
import { mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempProject } from '../helpers/cli.js';
import { startDev } from '../helpers/dev.js';

const PROJECT = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: 127.0.0.1:9\n';
/** A pipeline whose save `n` changes only its table's column comment (a metadata ALTER: the Kafka table stays). */
const pipeline = (name: string, n: number) => `name: ${name}\nsource:\n  topic: ${name}\ncolumns:\n  id: { type: Int64, comment: "save ${n}" }\ntable:\n  order_by: [id]\n`;

async function post(url: string, sql: string): Promise<string> {
  const response = await fetch(url, { method: 'POST', body: sql });
  return response.text();
}

describe('chpipe dev watches what editors do', () => {
  it('applies 20 saves in a row made in place, by rename and by delete + create, and sees new, nested and deleted files', async () => {
    const dir = tempProject({ 'schemas/clicks.yaml': pipeline('clicks', 0) }, PROJECT);
    const dev = startDev(dir, ['--interval', '0.2']);
    const change = async (seq: number, what: string): Promise<string> => (await dev.next((l) => l.lastChange?.seq === seq, `change ${seq} (${what})`, 30_000)).lastChange?.outcome ?? '';
    expect(await change(1, 'the start')).toBe('applied');
    const url = dev.lines()[0]?.url as string;
    const file = join(dir, 'schemas', 'clicks.yaml');
    const ways = {
      'in place': (text: string) => writeFileSync(file, text),
      'by rename': (text: string) => {
        writeFileSync(`${file}.swp`, text);
        renameSync(`${file}.swp`, file);
      },
      'by delete + create': (text: string) => {
        unlinkSync(file);
        writeFileSync(file, text);
      },
    };
    const order = Object.entries(ways);
    let seq = 1;
    for (let i = 1; i <= 20; i++) {
      const [how, save] = order[i % order.length] as [string, (text: string) => void];
      save(pipeline('clicks', i));
      seq++;
      expect(await change(seq, `save ${i}, ${how}`), `save ${i}, ${how}`).toBe('applied');
    }
    expect(await post(url, "SELECT comment FROM system.columns WHERE database = 'analytics' AND table = 'clicks' AND name = 'id'")).toBe('save 20\n');

    // A new file, then one in a folder made later: each a new pipeline.
    writeFileSync(join(dir, 'schemas', 'views.yaml'), pipeline('views', 0));
    expect(await change(++seq, 'a new file')).toBe('applied');
    mkdirSync(join(dir, 'schemas', 'more'));
    writeFileSync(join(dir, 'schemas', 'more', 'orders.yaml'), pipeline('orders', 1));
    expect(await change(++seq, 'a file in a new folder')).toBe('applied');
    expect(await post(url, "SELECT name FROM system.tables WHERE database = 'analytics' AND name IN ('views', 'orders') ORDER BY name")).toBe('orders\nviews\n');
    // A deleted file: its pipeline would be dropped, which is destructive: seen, and refused.
    unlinkSync(join(dir, 'schemas', 'views.yaml'));
    expect(await change(seq + 1, 'a deleted file')).toBe('refused');

    await dev.end();
  }, 120_000);
});
