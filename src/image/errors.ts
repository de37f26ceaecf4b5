import { SlipwayError } from '../oci/index.js';

/** An image whose manifest and config do not agree, or that uses types slipway cannot read. */
export class InvalidImageError extends SlipwayError {
  constructor(readonly where: string, readonly problems: readonly string[]) {
    super('INVALID_IMAGE', `${where} is not a valid image: ${problems.join('; ')}`, {
      hint: 'the image was written by a broken tool or is not a container image; rebuild or re-pull it',
    });
  }
}
