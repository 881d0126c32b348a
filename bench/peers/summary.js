// The table of bench/README.md from a run's JSON lines:
//   node bench/peers/summary.js build/peers/peers-results.jsonl
// Times are medians over rounds; ratios are medians of per-round ratios (peer / ours: above 1,
// ours is faster), with the same ratio of CPU seconds in brackets. The encoders' fraction of the
// matmul peak is their GFLOP count over their time against bench_sgemm's best float32 rate,
// on the wall clock (2 threads) and per CPU-second.
'use strict';
const fs = require('fs');

const GFLOP = { encoder_mobilesam: 77.5, encoder_vit_b: 964.5 };
const lines = fs.readFileSync(process.argv[2] || 'build/peers/peers-results.jsonl', 'utf8')
  .split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const engine = (name, condition, label) => lines.find((l) => l.name === name && l.condition === condition && l.engine === label);
const ratio = (name, condition, r) => lines.find((l) => l.name === name && l.condition === condition && l.ratio === r);
const peak = (type, threads) => lines.filter((l) => l.name.startsWith(`matmul_${type}_`) && l.name.endsWith(`_peak_t${threads}`))
  .reduce((best, l) => (!best || l.value > best.value ? l : best), null);

const time = (e) => (!e ? '' : e.median >= 1 ? `${e.median.toFixed(2)} s` : `${(e.median * 1000).toFixed(1)} ms`);
const times = (r) => (!r ? '' : `${r.median.toFixed(2)}x` + (r.cpu_ratio_median ? ` (cpu ${r.cpu_ratio_median.toFixed(2)}x)` : ''));
const cell = (name, condition, label, base) => {
  const e = engine(name, condition, label);
  if (!e) return '';
  return label === base ? time(e) : `${time(e)}, ${times(ratio(name, condition, `${label}/${base}`))}`;
};

const rows = [
  ['MobileSAM encoder', 'encoder_mobilesam', 'quiet'],
  ['one click: decoder + full-size mask', 'click_1point', 'quiet'],
  ['one click: decoder alone (low-res)', 'decoder_1point', 'quiet'],
  ['MobileSAM encoder, busy process pinned to one core', 'encoder_mobilesam', 'busy_pinned'],
  ['MobileSAM encoder, busy process unpinned', 'encoder_mobilesam', 'busy_unpinned'],
  ['SAM ViT-B encoder (random weights)', 'encoder_vit_b', 'quiet'],
  ['SAM ViT-B encoder, busy process pinned', 'encoder_vit_b', 'busy_pinned'],
  ['SAM ViT-B encoder, busy process unpinned', 'encoder_vit_b', 'busy_unpinned'],
];
const b = lines.some((l) => l.engine === 'ours_b');
console.log(`| figure | ours | ours, ONNX decoder | ONNX Runtime | PyTorch |${b ? ' ours_b |' : ''} rounds |`);
console.log(`|---|---|---|---|---|${b ? '---|' : ''}---|`);
for (const [title, name, condition] of rows) {
  const ours = engine(name, condition, 'ours');
  if (!ours) continue;
  console.log(`| ${title} | ${time(ours)} | ${cell(name, condition, 'ours_onnx', 'ours')} | ` +
    `${cell(name, condition, 'ort', 'ours')} | ${cell(name, condition, 'pytorch', 'ours')} |` +
    `${b ? ` ${cell(name, condition, 'ours_b', 'ours')} |` : ''} ${ours.rounds} |`);
}

const f32 = [peak('f32', 2), peak('f32', 1)];
const bf16 = [peak('bf16', 2), peak('bf16', 1)];
const fmt = (p) => (p ? `${p.value.toFixed(0)} GFLOP/s (${p.weights} weights; ${p.per_cpu_s.toFixed(0)} per CPU-second)` : 'not run');
if (f32[0]) console.log(`\nmatmul peak, float32: all cores ${fmt(f32[0])}, one core ${fmt(f32[1])}`);
if (bf16[0]) console.log(`matmul peak, bfloat16: all cores ${fmt(bf16[0])}, one core ${fmt(bf16[1])}`);
for (const name of Object.keys(GFLOP)) {
  const ours = engine(name, 'quiet', 'ours');
  if (!ours || !f32[0]) continue;
  const wall = GFLOP[name] / ours.median, cpu = GFLOP[name] / ours.cpu_median;
  console.log(`${name}: ${GFLOP[name]} GFLOP in ${time(ours)}: ${wall.toFixed(0)} GFLOP/s, ` +
    `${(100 * wall / f32[0].value).toFixed(0)} % of the all-core peak; ${cpu.toFixed(0)} GFLOP per CPU-second, ` +
    `${(100 * cpu / f32[0].per_cpu_s).toFixed(0)} % of the peak's`);
}
