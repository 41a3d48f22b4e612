import { ConfigError, readEnum, readInt, readList, readPort, readUrl, redactUrl } from '../env';

describe('environment readers', () => {
  it('redacts the credentials of a URL, and of a value that is not one, before they are shown', () => {
    expect(redactUrl('http://user:pa55@llm.example/v1')).toBe('http://***@llm.example/v1');
    expect(redactUrl(new URL('http://127.0.0.1:8081/phase'))).toBe('http://127.0.0.1:8081/phase');
    expect(() => readUrl({ U: 'http://user:pa55@bad host/' }, 'U')).toThrow('U must be an absolute http(s) URL, got "http://***@bad host/"');
    expect(() => readUrl({ U: 'http://us er:pa 55@bad host/' }, 'U')).toThrow('U must be an absolute http(s) URL, got "http://***@bad host/"');
  });

  it('uses the fallback when a variable is unset or blank', () => {
    expect(readPort({}, 'PORT', 8080)).toBe(8080);
    expect(readPort({ PORT: '  ' }, 'PORT', 8080)).toBe(8080);
    expect(readList({}, 'LIST', ['a'])).toEqual(['a']);
  });

  it.each([
    () => readPort({ PORT: 'abc' }, 'PORT', 1),
    () => readPort({ PORT: '70000' }, 'PORT', 1),
    () => readInt({ PORT: '1.5' }, 'PORT', 1, { min: 0, max: 10 }),
    () => readEnum({ PORT: 'x' }, 'PORT', ['a', 'b'] as const, 'a'),
    () => readUrl({ PORT: 'not a url' }, 'PORT'),
    () => readUrl({ PORT: 'ftp://example.com' }, 'PORT'),
    () => readList({ PORT: 'a,,b' }, 'PORT', []),
  ])('names the variable in its error (case %#)', (read) => {
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(/^PORT /);
  });

  it('parses valid values', () => {
    expect(readInt({ N: '-3' }, 'N', 0, { min: -5, max: 5 })).toBe(-3);
    expect(readList({ L: ' a, b ,a' }, 'L', [])).toEqual(['a', 'b']);
    expect(readUrl({ U: 'http://127.0.0.1:1/x' }, 'U')?.port).toBe('1');
  });
});
