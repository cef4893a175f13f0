/**
 * A message as one line: multi-line messages (a combined backend error lists one reason
 * per line) are joined with '; ', or a space after a line that ends with ':'.
 */
export function oneLine(text: string): string {
  return text
    .split('\n')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .reduce((line, part) => (line === '' ? part : line.endsWith(':') ? `${line} ${part}` : `${line}; ${part}`), '');
}
