import { runDetection, latencyMs } from './detection';
import { killAll } from './processes';
void runDetection(3, (t) => process.stdout.write(`${t.variant} listen ${t.listenMs.toFixed(1)} ready ${t.readyMs.toFixed(1)} lat ${latencyMs(t).toFixed(2)}\n`)).finally(killAll);
