// Drives the peer benchmark: starts one long-lived worker per engine (ours: peer_ours;
// ONNX Runtime: ort_worker.js; PyTorch: torch_peer.py worker), refuses to time any whose
// outputs do not match the reference, then runs interleaved rounds: in each round every engine
// runs each figure once (clicks: --click-reps times, their median), the engines in a rotating
// order. Prints JSON lines: per engine the median, min and max over rounds; per peer the
// median of the per-round ratios peer / ours, with every round's ratio. Progress on stderr.
// Called by run.sh, which prepares the files in --work; see README.md.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const opts = {
  rounds: 15, clickReps: 5, contentionRounds: 10, vitRounds: 3, vitContentionRounds: 0, threads: 2, oursBEnv: '',
  work: '', ours: '', golden: '', python: '', torchScript: path.join(__dirname, 'torch_peer.py'),
};
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  if (!(key in opts) || i + 1 >= process.argv.length) {
    console.error(`compare.js: unknown option or missing value: ${process.argv[i]}`);
    process.exit(2);
  }
  opts[key] = typeof opts[key] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
const log = (msg) => console.error(`compare.js: ${msg}`);
const emit = (obj) => console.log(JSON.stringify(obj));
const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

// A worker process speaking the line protocol. `optional` workers that fail to start are skipped.
class Worker {
  constructor(engine, cmd, args, env) {
    this.engine = engine;
    this.proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
    children.add(this.proc);
    this.lines = readline.createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
    this.exit = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => { children.delete(this.proc); resolve(code ?? signal); });
      this.proc.on('error', (e) => { children.delete(this.proc); resolve(`${cmd}: ${e.message}`); });
    });
  }
  async next() {
    const r = await Promise.race([this.lines.next(), this.exit.then((code) => ({ done: true, code }))]);
    if (r.done) throw new Error(`${this.engine} worker ended (${typeof r.code === 'number' ? `exit code ${r.code}` : r.code})`);
    return JSON.parse(r.value);
  }
  async ready() {
    const msg = await this.next();
    const bad = msg.checks.filter((c) => !(c.max_abs_diff <= c.tolerance));
    const { ready, figures, ...about } = msg;  // engine, version, threads, blas (PyTorch), checks
    emit({ name: 'peer_check', ...about, engine: this.engine });
    if (bad.length) throw new Error(`${this.engine} does not compute what the reference computes: ${JSON.stringify(bad)}`);
    this.figures = new Set(msg.figures);
    return this;
  }
  async run(figure, reps) {
    this.proc.stdin.write(`${figure} ${reps}\n`);
    const msg = await this.next();
    if (msg.error || msg.figure !== figure) throw new Error(`${this.engine}: ${msg.error || JSON.stringify(msg)}`);
    return msg;
  }
  async stop() {
    this.proc.stdin.end('quit\n');
    await this.exit;
  }
}

async function start(workers) {
  const started = [];
  for (const w of workers) {
    try {
      started.push(await w.ready());
    } catch (e) {
      if (!w.optional) throw e;
      log(`${w.engine} skipped: ${e.message}`);
      w.proc.kill('SIGKILL');
    }
  }
  return started;
}

function worker(engine, cmd, args, env = {}, optional = false) {
  const w = new Worker(engine, cmd, args, env);
  w.optional = optional;
  return w;
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
};
const round6 = (x) => Number(x.toFixed(6));

// One competing busy process (a spin loop), pinned to the last CPU or left to the scheduler.
function busyProcess(pinned) {
  const spin = [process.execPath, '-e', 'for (;;) {}'];
  const cpu = String(os.cpus().length - 1);
  const p = pinned ? spawn('taskset', ['-c', cpu, ...spin], { stdio: 'ignore' }) : spawn(spin[0], spin.slice(1), { stdio: 'ignore' });
  children.add(p);
  p.on('error', (e) => {
    log(`cannot start the busy process (${pinned ? 'taskset, from util-linux' : 'node'}): ${e.message}`);
    process.exit(1);
  });
  return { p, where: pinned ? `pinned to cpu ${cpu}` : 'unpinned' };
}

// figures: [{name, reps, sides: [{label, engine, request}], baseline: label, pairs: [[a, b]...]}]
async function rounds(condition, workers, figures, count) {
  if (count <= 0) return;
  const byEngine = Object.fromEntries(workers.map((w) => [w.engine, w]));
  const live = figures.map((f) => ({ ...f, sides: f.sides.filter((s) => byEngine[s.engine]?.figures.has(s.request)) }));
  const times = live.map((f) => Object.fromEntries(f.sides.map((s) => [s.label, []])));
  const cpu = live.map((f) => Object.fromEntries(f.sides.map((s) => [s.label, []])));
  for (let r = 0; r < count; ++r) {
    for (const [fi, f] of live.entries()) {
      for (let k = 0; k < f.sides.length; ++k) {
        const s = f.sides[(k + r) % f.sides.length];
        const answer = await byEngine[s.engine].run(s.request, f.reps);
        // A pause before the next engine: the threads of the one that just ran may still be
        // spinning (ONNX Runtime's pool, PyTorch's OpenMP) and would take its cores.
        await new Promise((resolve) => setTimeout(resolve, 100));
        times[fi][s.label].push(answer.s);
        cpu[fi][s.label].push(answer.cpu_s);
      }
    }
    log(`${condition}: round ${r + 1}/${count}: ` + live.map((f, fi) => `${f.name} ` +
      f.sides.map((s) => `${s.label} ${times[fi][s.label][r].toFixed(4)}`).join(' ')).join(' | '));
  }
  // cpu_*: CPU seconds of the engine's process (all threads) per run, which time-sharing with
  // other processes inflates far less than the wall time.
  for (const [fi, f] of live.entries()) {
    for (const s of f.sides) {
      const st = stats(times[fi][s.label]);
      emit({ name: f.name, condition, engine: s.label, unit: 's', median: round6(st.median), min: round6(st.min),
        max: round6(st.max), cpu_median: round6(stats(cpu[fi][s.label]).median), rounds: count, reps_per_round: f.reps,
        threads: opts.threads });
    }
    for (const [a, b] of f.pairs) {
      if (!times[fi][a] || !times[fi][b]) continue;
      const per = times[fi][a].map((t, i) => t / times[fi][b][i]);
      const perCpu = cpu[fi][a].map((t, i) => t / cpu[fi][b][i]);
      const st = stats(per);
      emit({ name: f.name, condition, ratio: `${a}/${b}`, median: round6(st.median), min: round6(st.min), max: round6(st.max),
        cpu_ratio_median: round6(stats(perCpu).median), rounds: count, per_round: per.map((x) => Number(x.toFixed(3))) });
    }
  }
}

async function withBusy(pinned, fn) {
  const busy = busyProcess(pinned);
  await new Promise((r) => setTimeout(r, 1000));
  try {
    await fn(`busy_${pinned ? 'pinned' : 'unpinned'}`);
  } finally {
    busy.p.kill('SIGKILL');
    children.delete(busy.p);
  }
}

// MobileSAM: encoder, one click (decoder and full-size mask), the decoder alone; then the
// encoder sharing the CPU with a busy process.
// --ours-b-env "K=V,K2=V2": a second process of ours with that environment added (e.g.
// OMP_WAIT_POLICY=PASSIVE), timed in the same rounds as `ours_b` against `ours`.
const oursB = () => (opts.oursBEnv ? Object.fromEntries(opts.oursBEnv.split(',').map((kv) => kv.split('='))) : null);
const withOursB = (sides) => (oursB() ? [...sides, ...sides.filter((s) => s.engine === 'ours' && s.label === 'ours')
  .map((s) => ({ ...s, label: 'ours_b', engine: 'ours_b' }))] : sides);

async function mobileSam(W, photo, threadsEnv) {
  const ckpt = path.join(opts.golden, 'checkpoints/mobile_sam_random.pt');
  const decoder = path.join(opts.golden, 'onnx/mobile_sam_decoder_single.onnx');
  const ortArgs = [path.join(__dirname, 'ort_worker.js'), '--threads', String(opts.threads),
    '--decoder', decoder, '--embedding', photo, '--case', path.join(opts.golden, 'onnx/mobile_sam_decoder_single_case0.npz')];
  if (fs.existsSync(W('mobilesam_encoder.onnx')))
    ortArgs.push('--encoder', W('mobilesam_encoder.onnx'), '--input', W('input.npy'), '--reference', photo);
  else log('no MobileSAM encoder export in --work (it needs PyTorch): ONNX Runtime runs the decoder only');
  const mobile = [
    worker('ours', opts.ours, ['--golden', opts.golden], threadsEnv),
    worker('ort', process.execPath, ortArgs),
  ];
  if (oursB()) mobile.push(worker('ours_b', opts.ours, ['--golden', opts.golden], { ...threadsEnv, ...oursB() }));
  if (opts.python) {
    mobile.push(worker('pytorch', opts.python, [opts.torchScript, 'worker', '--model', 'mobilesam', '--checkpoint', ckpt,
      '--input', W('input.npy'), '--reference', photo, '--golden', opts.golden, '--threads', String(opts.threads)], {}, true));
  }
  const workers = await start(mobile);
  const clickSides = (request) => withOursB([
    { label: 'ours', engine: 'ours', request: `${request}_native` },
    { label: 'ours_onnx', engine: 'ours', request: `${request}_onnx` },
    { label: 'ort', engine: 'ort', request },
    { label: 'pytorch', engine: 'pytorch', request },
  ]);
  const clickPairs = [['ort', 'ours'], ['pytorch', 'ours'], ['ours_onnx', 'ours'], ['ort', 'ours_onnx'], ['ours_b', 'ours']];
  const encoder = { name: 'encoder_mobilesam', reps: 1, pairs: [['ort', 'ours'], ['pytorch', 'ours'], ['ours_b', 'ours']],
    sides: withOursB(['ours', 'ort', 'pytorch'].map((e) => ({ label: e, engine: e, request: 'encoder' }))) };
  await rounds('quiet', workers, [
    encoder,
    { name: 'click_1point', reps: opts.clickReps, sides: clickSides('click'), pairs: clickPairs },
    { name: 'decoder_1point', reps: opts.clickReps, sides: clickSides('decoder'), pairs: clickPairs },
  ], opts.rounds);

  // Sharing the CPU: the encoder, ours against ONNX Runtime, with one busy process.
  if (opts.contentionRounds > 0) {
    const two = { ...encoder, sides: encoder.sides.filter((s) => s.engine !== 'pytorch'), pairs: [['ort', 'ours'], ['ours_b', 'ours']] };
    for (const pinned of [true, false])
      await withBusy(pinned, (condition) => rounds(condition, workers, [two], opts.contentionRounds));
  }
  for (const w of workers) await w.stop();
}

// SAM ViT-B at full size with random weights (run.sh exported it), alone and sharing the CPU.
async function vitB(W, threadsEnv) {
  const ref = W('vit_b_torch_embedding.npy');
  const vit = [
    worker('ours', opts.ours, ['--golden', opts.golden, '--vit-checkpoint', W('vit_b_random.pt'), '--vit-reference', ref], threadsEnv),
    worker('ort', process.execPath, [path.join(__dirname, 'ort_worker.js'), '--threads', String(opts.threads),
      '--encoder', W('vit_b_encoder.onnx'), '--input', W('input.npy'), '--reference', ref, '--encoder-figure', 'encoder_vit']),
  ];
  if (oursB()) {
    vit.push(worker('ours_b', opts.ours, ['--golden', opts.golden, '--vit-checkpoint', W('vit_b_random.pt'), '--vit-reference', ref],
      { ...threadsEnv, ...oursB() }));
  }
  if (opts.python) {
    vit.push(worker('pytorch', opts.python, [opts.torchScript, 'worker', '--model', 'vit_b', '--checkpoint', W('vit_b_random.pt'),
      '--input', W('input.npy'), '--reference', ref, '--threads', String(opts.threads)], {}, true));
  }
  const workers = await start(vit);
  const vitEncoder = { name: 'encoder_vit_b', reps: 1, pairs: [['ort', 'ours'], ['pytorch', 'ours'], ['ours_b', 'ours']],
    sides: withOursB(['ours', 'ort', 'pytorch'].map((e) => ({ label: e, engine: e, request: 'encoder_vit' }))) };
  await rounds('quiet', workers, [vitEncoder], opts.vitRounds);
  if (opts.vitContentionRounds > 0) {
    const two = { ...vitEncoder, sides: vitEncoder.sides.filter((s) => s.engine !== 'pytorch'), pairs: [['ort', 'ours'], ['ours_b', 'ours']] };
    for (const pinned of [true, false])
      await withBusy(pinned, (condition) => rounds(condition, workers, [two], opts.vitContentionRounds));
  }
  for (const w of workers) await w.stop();
}

async function main() {
  const W = (f) => path.join(opts.work, f);
  const photo = path.join(opts.golden, 'cases/mobile_sam/photo/embedding.npy');
  const threadsEnv = { OMP_NUM_THREADS: String(opts.threads) };
  emit({ name: 'peer_setup', threads: opts.threads, rounds: opts.rounds, click_reps: opts.clickReps, cpus: os.cpus().length,
    cpu_model: os.cpus()[0].model, loadavg_1min: os.loadavg()[0] });

  if (opts.rounds > 0 || opts.contentionRounds > 0) await mobileSam(W, photo, threadsEnv);

  if (opts.vitRounds > 0 && fs.existsSync(W('vit_b_encoder.onnx'))) await vitB(W, threadsEnv);
  emit({ name: 'peer_done', loadavg_1min: os.loadavg()[0] });
}

main().catch((e) => {
  log(e.message);
  process.exit(1);
});
