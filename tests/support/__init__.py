"""What the tests and the benchmarks share: fakes, factories, update builders, readers, locales helpers."""
