// The ONNX Runtime side of the peer benchmark: a long-lived process that loads the sessions
// once, checks their outputs against the reference, then answers one timed run per request
// (the protocol of peer_ours: a JSON "ready" line, then "figure reps" lines in, one JSON
// line out each). CPU execution provider, all graph optimisations, sequential execution,
// --threads intra-op threads: how an application would run ONNX Runtime on these cores.
//
//   node ort_worker.js --threads 2 [--encoder MODEL.onnx --input INPUT.npy --reference EMB.npy
//                      --encoder-figure NAME] [--decoder DECODER.onnx --embedding EMB.npy --case CASE.npz]
//
// Figures: the encoder (named by --encoder-figure: encoder, encoder_vit) on INPUT; with a
// decoder export and one of its golden input sets: click (every output, the full-size masks
// included, as SAM's ONNX example fetches them) and decoder (iou_predictions and low_res_masks
// only).
'use strict';
const readline = require('readline');
const ort = require('onnxruntime-node');
const { readNpy, readNpz, maxAbsDiff } = require('./npy');

function parseArgs(argv) {
  const args = { threads: 2, encoderFigure: 'encoder' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(i + 1 < argv.length)) throw new Error(`${argv[i]} needs a value`);
    args[key] = argv[i + 1];
  }
  args.threads = Number(args.threads);
  return args;
}

const tensor = (a) => new ort.Tensor('float32', a.data, a.shape);

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const options = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
  };
  const figures = {};
  const checks = [];

  if (args.encoder) {
    const session = await ort.InferenceSession.create(args.encoder, options);
    const feeds = { [session.inputNames[0]]: tensor(readNpy(args.input)) };
    const out = await session.run(feeds);
    const emb = out[session.outputNames[0]].data;
    checks.push({ name: `${args.encoderFigure}_vs_reference`, max_abs_diff: maxAbsDiff(emb, readNpy(args.reference).data), tolerance: 5e-3 });
    figures[args.encoderFigure] = () => session.run(feeds);
  }
  if (args.decoder) {
    const session = await ort.InferenceSession.create(args.decoder, options);
    const c = readNpz(args.case);
    const feeds = { image_embeddings: tensor(readNpy(args.embedding)) };
    for (const name of ['point_coords', 'point_labels', 'mask_input', 'has_mask_input', 'orig_im_size'])
      feeds[name] = tensor(c[name]);
    const out = await session.run(feeds);
    checks.push({ name: 'click_lowres_vs_golden', max_abs_diff: maxAbsDiff(out.low_res_masks.data, c.low_res_masks.data), tolerance: 5e-3 });
    checks.push({ name: 'click_iou_vs_golden', max_abs_diff: maxAbsDiff(out.iou_predictions.data, c.iou_predictions.data), tolerance: 1e-3 });
    figures.click = () => session.run(feeds);
    figures.decoder = () => session.run(feeds, ['iou_predictions', 'low_res_masks']);
    await figures.decoder();
  }

  const ready = { ready: true, engine: 'onnxruntime', version: ort.env.versions.node, threads: args.threads, figures: Object.keys(figures).sort(), checks };
  console.log(JSON.stringify(ready));
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    const [name, repsWord] = line.trim().split(/\s+/);
    if (!name) continue;
    if (name === 'quit') break;
    const reps = repsWord === undefined ? 1 : Number(repsWord);
    if (!figures[name] || !(reps >= 1)) {
      console.log(JSON.stringify({ error: `unknown request: ${line.trim()}` }));
      continue;
    }
    const wall = [], cpu = [];
    for (let i = 0; i < reps; ++i) {
      const c0 = process.cpuUsage();  // the whole process: ONNX Runtime's threads included
      const t0 = process.hrtime.bigint();
      await figures[name]();
      wall.push(Number(process.hrtime.bigint() - t0) * 1e-9);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) * 1e-6);
    }
    const middle = (xs) => xs.sort((a, b) => a - b)[Math.floor(reps / 2)];
    console.log(JSON.stringify({ figure: name, s: middle(wall), cpu_s: middle(cpu), runs: reps }));
  }
  rl.close();
}

main().catch((e) => {
  console.error(`ort_worker.js: ${e.stack || e}`);
  process.exit(1);
});
