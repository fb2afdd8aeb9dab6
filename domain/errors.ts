// The one error class that means "the user's input is wrong" (exit code 2, message names the field).

/** A mistake in the user's input: the CLI prints the message alone and exits with 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
