"""BN implementations written for the tests of `bncheck verify`: correct ones, written in
different ways, and wrong ones, one per row of the mistakes catalogue."""
