import { type PolicyContent, policyAggregate } from '../commands/policy.ts';
import { handleCommand } from '../src/command-handler.ts';
import { checkPolicyText } from '../src/policies/cedar.ts';
import type { Sigid } from '../src/sigid.ts';
import type { UseCase, Written } from './context.ts';

type Change = UseCase & { ifMatch?: number | undefined };

export interface NewPolicy {
  name: string;
  description?: string | undefined;
  cedar: string;
  enabled?: boolean | undefined;
}

/** One version of a policy, as its events recorded it. */
export interface PolicyVersion {
  version: number;
  name: string;
  description: string;
  cedar: string;
  created_at: Date;
}

/**
 * Creates a policy as version 1. Its Cedar text is checked against SigID's schema first (strict
 * mode): a text that fails is refused with Cedar's diagnostics (400 `invalid_request`) and nothing is
 * appended. The id comes from `context.random`, so a retried request is a no-op.
 */
export async function createPolicy(
  sigid: Sigid,
  input: NewPolicy,
  context: UseCase,
): Promise<{ policyId: string; written: Written }> {
  checkPolicyText(input.cedar);
  const policyId = context.random.id('pol');
  const content: PolicyContent = { name: input.name, description: input.description ?? '', cedar: input.cedar };
  const created = await handleCommand(
    sigid.log,
    policyAggregate,
    policyId,
    { type: 'create_policy', policy_id: policyId, content, enabled: input.enabled ?? true },
    context,
  );
  let written: Written = created;
  if (created.position === null) {
    // A retried create that had landed: its answer waits for that event like the first run's would.
    const event = (await sigid.log.readStream(policyAggregate.stream(context.tenantId, policyId))).find(
      (recorded) => recorded.type === 'policy.created',
    );
    if (event) written = { position: event.position, types: [event.type] };
  }
  return { policyId, written };
}

/**
 * Changes a policy: name, description or Cedar text (checked as on create) make a new version;
 * `enabled` enables or disables it. One append for all of it.
 */
export function updatePolicy(
  sigid: Sigid,
  policyId: string,
  changes: Partial<PolicyContent> & { enabled?: boolean | undefined },
  context: Change,
): Promise<Written> {
  if (changes.cedar !== undefined) checkPolicyText(changes.cedar);
  const { enabled, ...content } = changes;
  const defined = Object.fromEntries(Object.entries(content).filter(([, value]) => value !== undefined));
  const commands = [
    ...(Object.keys(defined).length > 0 ? [{ type: 'update_policy' as const, changes: defined }] : []),
    ...(enabled === undefined ? [] : [{ type: 'set_policy_enabled' as const, enabled }]),
  ];
  return handleCommand(sigid.log, policyAggregate, policyId, commands, context);
}

/** Deletes a policy: it takes no part in decisions any more; its versions stay in its stream. */
export function deletePolicy(sigid: Sigid, policyId: string, context: Change): Promise<Written> {
  return handleCommand(sigid.log, policyAggregate, policyId, { type: 'delete_policy' }, context);
}

/** Every version of a live policy, oldest first, from its stream (the event is the version). */
export async function policyVersions(sigid: Sigid, tenantId: string, policyId: string): Promise<PolicyVersion[]> {
  const history = await sigid.log.readStream(policyAggregate.stream(tenantId, policyId));
  const versions: PolicyVersion[] = [];
  for (const event of history) {
    if (event.type !== 'policy.created' && event.type !== 'policy.updated') continue;
    const data = event.data as { version: number; name: string; description: string; cedar: string };
    versions.push({
      version: data.version,
      name: data.name,
      description: data.description,
      cedar: data.cedar,
      created_at: event.time,
    });
  }
  return versions;
}
