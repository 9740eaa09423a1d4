import type { WriteContext } from './event-log.ts';
import { streamName } from './event-store/port.ts';
import type { Sigid } from './sigid.ts';

/**
 * Crypto-shredding: destroys the subject's key, so every personal field ever written about them reads
 * as null in reads, exports and replays, then records that it happened (the erasure itself is audited;
 * the event holds only the subject's id).
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
