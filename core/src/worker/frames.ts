/**
 * Frames of the launcher ⇄ worker protocol (native/PROTOCOL.md): TYPE (1 byte), LENGTH (u32
 * big-endian), PAYLOAD. Pure code: encoding and an incremental decoder for a byte stream.
 */
export const MAX_FRAME = 16 * 1024 * 1024;

export type FrameType = 'Q' | 'I' | 'Z' | 'A' | 'D' | 'R' | 'O' | 'E' | 'X';

export interface Frame {
  type: string;
  payload: Buffer;
}

export function encodeFrame(type: FrameType, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

export const exitFrame = (code: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(code >>> 0, 0);
  return encodeFrame('X', b);
};

/** Splits a byte stream into frames; throws on a frame longer than MAX_FRAME. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Frame[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (len > MAX_FRAME) throw new Error(`frame of ${len} bytes is over the ${MAX_FRAME}-byte limit`);
      if (this.buf.length < 5 + len) break;
      frames.push({ type: String.fromCharCode(this.buf[0]!), payload: this.buf.subarray(5, 5 + len) });
      this.buf = this.buf.subarray(5 + len);
    }
    return frames;
  }
}
