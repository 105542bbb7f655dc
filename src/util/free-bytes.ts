/**
 * Frees a buffer's memory now instead of when the garbage collector gets to it, by detaching
 * its ArrayBuffer (transfer to length 0). A server reading uploads turns over its memory in
 * 64 KiB socket chunks faster than V8 collects them: each chunk is a small object on the JS
 * heap holding 64 KiB outside it, so a flood of uploads can leave a hundred MiB or more of
 * chunks already copied or discarded but not yet collected. Node 20 has no
 * ArrayBuffer.prototype.transfer; there the collector still frees them, later.
 */
type Detachable = ArrayBuffer & { transfer?: (length: number) => ArrayBuffer; detached?: boolean };

/** Detaches `buffer` (its views all become empty); false where the runtime cannot. */
export function detachArrayBuffer(buffer: ArrayBufferLike): boolean {
  const b = buffer as Detachable;
  if (typeof b.transfer !== "function" || b.detached) return false;
  b.transfer(0);
  return true;
}

/**
 * Frees a chunk that nothing will read again, but only where the chunk is the whole of its
 * ArrayBuffer: a view into a shared pool (small Buffers) or into a larger buffer is left alone.
 * Node's HTTP parser hands each body chunk over in an ArrayBuffer of its own.
 */
export function freeChunk(chunk: Uint8Array): void {
  const { buffer } = chunk;
  if (buffer instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === buffer.byteLength) detachArrayBuffer(buffer);
}
