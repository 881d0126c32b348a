// Float32 .npy files (C order) and the arrays of an .npz (numpy.savez: a zip of .npy entries),
// enough to feed the golden arrays to ONNX Runtime.
'use strict';
const fs = require('fs');
const zlib = require('zlib');

function parseNpy(buf, what) {
  if (buf.length < 10 || buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${what}: not an .npy file`);
  const major = buf[6];
  const len = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + len);
  if (!/'descr': '<f4'/.test(header) || !/'fortran_order': False/.test(header))
    throw new Error(`${what}: not a C-order float32 array (${header.trim()})`);
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + len;
  if (buf.length < offset + count * 4) throw new Error(`${what}: shorter than its shape [${shape}]`);
  // A copy: the data offset need not be 4-byte aligned inside buf.
  const data = new Float32Array(count);
  Buffer.from(data.buffer).set(buf.subarray(offset, offset + count * 4));
  return { shape, data };
}

function readNpy(path) {
  return parseNpy(fs.readFileSync(path), path);
}

// Every array of an .npz, by name without ".npy". Reads the central directory (the local headers
// of numpy's zips may carry data descriptors); stored and deflated entries.
function readNpz(path) {
  const buf = fs.readFileSync(path);
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`${path}: not a zip archive`);
  const entries = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const arrays = {};
  for (let i = 0; i < entries; ++i) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${path}: bad central directory`);
    const method = buf.readUInt16LE(p + 10);
    const size = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    if (size === 0xffffffff || local === 0xffffffff) throw new Error(`${path}: ZIP64 entries are not supported`);
    const data = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    let bytes = buf.subarray(data, data + size);
    if (method === 8) bytes = zlib.inflateRawSync(bytes);
    else if (method !== 0) throw new Error(`${path}: ${name} uses compression method ${method}`);
    arrays[name.replace(/\.npy$/, '')] = parseNpy(bytes, `${path}:${name}`);
    p += 46 + nameLen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return arrays;
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`${a.length} values against ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

module.exports = { readNpy, readNpz, maxAbsDiff };
