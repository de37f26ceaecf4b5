// Parse + plan of a generated 1,000-instruction Dockerfile (target: < 100 ms).
// Run after `npm run build`: node test/bench/plan-bench.mjs
import { parseDockerfile } from '../../dist/dockerfile/index.js';
import { createPlan } from '../../dist/plan/index.js';

function generate(n) {
  const lines = ['# syntax=docker/dockerfile:1', 'ARG BASE=alpine', 'ARG VERSION=3.20'];
  let count = 2;
  let stage = 0;
  while (count < n) {
    lines.push(`FROM \${BASE}:\${VERSION} AS s${stage}`);
    lines.push('ARG VERSION', `ENV APP_HOME=/opt/app${stage} PATH=/opt/app${stage}/bin:$PATH`);
    count += 3;
    for (let i = 0; i < 45 && count < n; i++, count++) {
      switch (i % 9) {
        case 0: lines.push(`RUN --mount=type=cache,target=/var/cache/apk,id=apk${stage} apk add --no-cache pkg${i} && \\`, `    echo installed ${i}`); break;
        case 1: lines.push(`WORKDIR \${APP_HOME}/w${i}`); break;
        case 2: lines.push(`LABEL org.example.step${i}="value ${i}" version=$VERSION`); break;
        case 3: lines.push(stage > 0 ? `COPY --from=s${stage - 1} /opt/app${stage - 1}/f${i} ./f${i}` : `RUN echo ${i} > f${i}`); break;
        case 4: lines.push(`RUN <<EOF`, `echo heredoc ${i}`, `echo "$APP_HOME"`, 'EOF'); break;
        case 5: lines.push(`ENV V${i}=\${APP_HOME:-/none}/x${i}`); break;
        case 6: lines.push(`EXPOSE ${8000 + i}/tcp`); break;
        case 7: lines.push(`USER ${1000 + i}`); break;
        default: lines.push(`RUN ["sh", "-c", "echo exec ${i}"]`);
      }
    }
    stage++;
  }
  return lines.join('\n') + '\n';
}

const text = generate(1000);
const amd64 = { os: 'linux', architecture: 'amd64' };
const once = () => {
  const parsed = parseDockerfile(text);
  const plan = createPlan(parsed, { buildPlatform: amd64 });
  return { parsed, plan };
};
const { parsed, plan } = once();
for (let i = 0; i < 5; i++) once(); // warm up
const runs = [];
for (let i = 0; i < 20; i++) {
  const t0 = performance.now();
  once();
  runs.push(performance.now() - t0);
}
runs.sort((a, b) => a - b);
const steps = plan.stages.reduce((n, s) => n + s.steps.length, 0);
console.log(`plan-bench: ${parsed.instructions.length} instructions, ${plan.stages.length} stages, ${steps} steps`);
console.log(`plan-bench: parse+plan median ${runs[10].toFixed(1)} ms, min ${runs[0].toFixed(1)} ms, max ${runs[19].toFixed(1)} ms (target < 100 ms)`);
