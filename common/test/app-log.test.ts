import { parseAppLogLine, phaseCompleteLog } from '../app-log';

describe('the app log lines the runner reads', () => {
  const cases: { name: string; line: string; want: ReturnType<typeof parseAppLogLine> }[] = [
    {
      name: "the app's phase completion, as the app writes it",
      line: JSON.stringify({ severity: 'INFO', ...phaseCompleteLog('database', 12).fields, message: phaseCompleteLog('database', 12).message }),
      want: { kind: 'phase-complete', phase: 'database', durationMs: 12 },
    },
    { name: 'a warning', line: '{"severity":"WARNING","message":"slow"}', want: { kind: 'entry', severity: 'WARNING', message: 'slow' } },
    { name: 'phase without a duration is an ordinary entry', line: '{"severity":"ERROR","phase":"cache","message":"startup failed"}', want: { kind: 'entry', severity: 'ERROR', message: 'startup failed' } },
    { name: 'a duration that is not a number', line: '{"severity":"INFO","phase":"cache","durationMs":"3","message":"m"}', want: { kind: 'entry', severity: 'INFO', message: 'm' } },
    { name: 'no severity', line: '{"message":"m"}', want: { kind: 'entry', severity: undefined, message: 'm' } },
    { name: 'a stack trace line', line: '    at main (/srv/app.js:1:2)', want: { kind: 'text', text: '    at main (/srv/app.js:1:2)' } },
    { name: 'JSON that is not an object', line: 'null', want: { kind: 'text', text: 'null' } },
  ];

  it.each(cases)('$name', ({ line, want }) => {
    expect(parseAppLogLine(line)).toEqual(want);
  });

  it('names the phase in the message', () => {
    expect(phaseCompleteLog('init', 0)).toEqual({ fields: { phase: 'init', durationMs: 0 }, message: 'phase init complete' });
  });
});
