"""Pure MAM engine tests (allocation and closing): no database."""
