import { describe, expect, it } from 'vitest';
import { renderTable } from './table.js';

describe('renderTable', () => {
  it('aligns columns, right-aligns numbers and cuts long cells', () => {
    const text = renderTable(
      [{ title: 'node' }, { title: 'op', maxWidth: 4 }, { title: 'MACs', align: 'right' }],
      [
        ['conv1', 'Conv', '118.01M'],
        ['layer1.0.conv1', 'BatchNormalization', '0'],
      ],
    );
    expect(text.split('\n')).toEqual([
      'node            op       MACs',
      '--------------  ----  -------',
      'conv1           Conv  118.01M',
      'layer1.0.conv1  Bat…        0',
    ]);
  });

  it('renders a header alone when there are no rows', () => {
    expect(renderTable([{ title: 'a' }, { title: 'bb' }], [])).toBe('a  bb\n-  --');
  });
});
