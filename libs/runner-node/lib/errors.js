// Exceptions a task function throws to say how its try ends, named as the Python SDK's
// (airlock.sdk.exceptions): any other error fails the try, which the server retries while
// retries remain.
// @ts-check

/** End the try as failed without using the remaining retries. */
export class AirlockFailException extends Error {
  /** @param {string} [message] */
  constructor(message) {
    super(message);
    this.name = "AirlockFailException";
  }
}

/** End the try as skipped. */
export class AirlockSkipException extends Error {
  /** @param {string} [message] */
  constructor(message) {
    super(message);
    this.name = "AirlockSkipException";
  }
}
