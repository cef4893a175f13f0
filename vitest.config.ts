import { defineConfig } from 'vitest/config';

// Tests read sibling packages' TypeScript source through the `@razor/source`
// export condition, so `pnpm test` does not wait on `pnpm build`.
export default defineConfig({
  resolve: { conditions: ['@razor/source'] },
  ssr: { resolve: { conditions: ['@razor/source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/*/**/*.test.ts', 'tests/*/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
