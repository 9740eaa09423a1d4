import type { WriteContext } from '../src/event-log.ts';
import { streamName } from '../src/event-store/port.ts';
import type { Sigid } from '../src/sigid.ts';

/**
 * Crypto-shredding: destroys the subject's key, so every personal field ever written about them reads
 * as null in reads, exports and replays, then records that it happened (the event holds only the
 * subject's id). The key goes first: a crash in between leaves the person erased and the record
 * missing, and erasing again (idempotent) adds the record — never the record without the erasure.
 */
export async function erasePersonalData(sigid: Sigid, subjectId: string, context: WriteContext) {
  await sigid.subjectKeys.destroy(context.tenantId, subjectId);
  return sigid.log.append(
    streamName(context.tenantId, subjectId),
    [{ type: 'subject.personal_data.erased', data: { subject_id: subjectId } }],
    'any',
    context,
  );
}
