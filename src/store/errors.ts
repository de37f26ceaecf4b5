import { SlipwayError } from '../oci/index.js';

/** A reference (tag or digest) that a store does not hold. */
export class RefNotFoundError extends SlipwayError {
  constructor(readonly ref: string, readonly where: string, hint?: string) {
    super('REF_NOT_FOUND', `${where}: no image named "${ref}"`, {
      hint: hint ?? 'check the name with "slipway images", or pull it first',
    });
  }
}

/** A blob a descriptor names is missing from a store. */
export class BlobNotFoundError extends SlipwayError {
  constructor(readonly digest: string, readonly where: string) {
    super('BLOB_NOT_FOUND', `${where}: blob ${digest} is missing`, {
      hint: 'the image is incomplete in this store; pull or build it again',
    });
  }
}

/** The store directory cannot be used (not an OCI layout, bad index.json, lock timeout). */
export class StoreError extends SlipwayError {
  constructor(message: string, hint: string, cause?: unknown) {
    super('STORE', message, { hint, ...(cause === undefined ? {} : { cause }) });
  }
}
