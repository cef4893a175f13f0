// @razor/core/testing: the conformance suite every Backend runs on itself, and the
// helpers it uses to read model fixtures. Imports no test framework.
export { defineBackendConformanceSuite, describeMismatch } from './backend-conformance.js';
export type { BackendConformanceOptions, ConformanceTestApi, ConformanceExpect, ExpectedOutput } from './backend-conformance.js';
export { defaultModelFixturesDirectory, listModelFixtures, loadModelFixture } from './model-fixtures.js';
export type { ModelFixture, ModelFixtureValue, LoadedModelFixture } from './model-fixtures.js';
export { seededValues } from './reference-ops.js';
export { catchRazorError, rejectionOf } from './razor-errors.js';
