// zip.js — reading one file out of a zip archive held in memory (an
// export's manifest.json), with nothing but the browser: the central
// directory (ZIP64 included), stored or deflated entries
// (DecompressionStream).  Reads; never writes, never runs anything.
//
// Format: PKWARE APPNOTE 6.3.x, sections 4.3.6 (local header), 4.3.12
// (central directory), 4.3.14-4.3.16 (ZIP64 and end of central directory).

const EOCD = 0x06054b50;
const Z64_LOCATOR = 0x07064b50;
const Z64_EOCD = 0x06064b50;
const CDIR = 0x02014b50;
const LOCAL = 0x04034b50;

class ZipError extends Error {}

function u64(dv, at) {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError('zip offset too large');
  return Number(v);
}

// The end of central directory: {count, size, offset}.
function endRecord(dv) {
  const min = Math.max(0, dv.byteLength - 22 - 65535);
  for (let i = dv.byteLength - 22; i >= min; i--) {
    if (dv.getUint32(i, true) !== EOCD) continue;
    let count = dv.getUint16(i + 10, true);
    let size = dv.getUint32(i + 12, true);
    let offset = dv.getUint32(i + 16, true);
    if ((count === 0xffff || size === 0xffffffff || offset === 0xffffffff) && i >= 20 && dv.getUint32(i - 20, true) === Z64_LOCATOR) {
      const z = u64(dv, i - 20 + 8);
      if (z + 56 > dv.byteLength || dv.getUint32(z, true) !== Z64_EOCD) throw new ZipError('bad ZIP64 end record');
      count = u64(dv, z + 32);
      size = u64(dv, z + 40);
      offset = u64(dv, z + 48);
    }
    if (offset + size > dv.byteLength) throw new ZipError('central directory beyond the end');
    return { count, size, offset };
  }
  throw new ZipError('not a zip archive (no end of central directory)');
}

// [{name, method, csize, usize, local}] from the central directory.
export function zipEntries(buf) {
  const dv = new DataView(buf);
  const end = endRecord(dv);
  const out = [];
  let p = end.offset;
  const dec = new TextDecoder();
  for (let k = 0; k < end.count; k++) {
    if (p + 46 > dv.byteLength || dv.getUint32(p, true) !== CDIR) throw new ZipError('bad central directory entry');
    const method = dv.getUint16(p + 10, true);
    let csize = dv.getUint32(p + 20, true);
    let usize = dv.getUint32(p + 24, true);
    const nlen = dv.getUint16(p + 28, true);
    const elen = dv.getUint16(p + 30, true);
    const clen = dv.getUint16(p + 32, true);
    let local = dv.getUint32(p + 42, true);
    const name = dec.decode(new Uint8Array(buf, p + 46, nlen));
    // ZIP64 extra field: the 8-byte values of whichever fields are saturated.
    for (let e = p + 46 + nlen; e + 4 <= p + 46 + nlen + elen;) {
      const id = dv.getUint16(e, true);
      const len = dv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (usize === 0xffffffff) { usize = u64(dv, q); q += 8; }
        if (csize === 0xffffffff) { csize = u64(dv, q); q += 8; }
        if (local === 0xffffffff) { local = u64(dv, q); q += 8; }
      }
      e += 4 + len;
    }
    out.push({ name, method, csize, usize, local });
    p += 46 + nlen + elen + clen;
  }
  return out;
}

// The uncompressed bytes of entry `name`, or null when there is none.
export async function zipRead(buf, name) {
  const ent = zipEntries(buf).find((e) => e.name === name);
  if (!ent) return null;
  const dv = new DataView(buf);
  if (ent.local + 30 > dv.byteLength || dv.getUint32(ent.local, true) !== LOCAL) throw new ZipError('bad local header');
  const start = ent.local + 30 + dv.getUint16(ent.local + 26, true) + dv.getUint16(ent.local + 28, true);
  if (start + ent.csize > dv.byteLength) throw new ZipError('entry beyond the end');
  const data = new Uint8Array(buf, start, ent.csize);
  if (ent.method === 0) return data;
  if (ent.method === 8) {
    const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  throw new ZipError(`compression method ${ent.method} is not supported`);
}
