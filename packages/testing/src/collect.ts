/** Collectors: writable streams that keep what was written, for asserting on logs and on sandbox output. */
import { Writable } from 'node:stream';

/** A Writable that keeps everything written to it; `delayMs` slows each write (back-pressure tests). */
export class Collector extends Writable {
  private readonly chunks: Buffer[] = [];

  constructor(private readonly delayMs = 0) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    if (this.delayMs > 0) setTimeout(done, this.delayMs);
    else done();
  }

  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  lines(): string[] {
    const text = this.text();
    return text === '' ? [] : text.replace(/\n$/, '').split('\n');
  }
}
