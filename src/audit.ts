import type { RecordedEvent } from '../events/envelope.ts';
import type { EventLog } from './event-log.ts';
import { type ReadAllOptions, streamName, streamTarget } from './event-store/port.ts';

/** What an auditor filters the log by. Every filter is applied inside the tenant. */
export interface AuditFilter {
  since?: Date | undefined;
  until?: Date | undefined;
  actorId?: string | undefined;
  actions?: string[] | undefined;
  targetId?: string | undefined;
}

/** What a target is, by its id's prefix; any other prefix is shown as it is. */
export const TARGET_TYPES: Readonly<Record<string, string>> = {
  ten: 'tenant',
  key: 'api_key',
  whk: 'webhook',
  op: 'operator_key',
  app: 'application',
  api: 'api',
  org: 'organization',
  rol: 'role',
  pol: 'policy',
  // A tenant's signing keys are one stream, `{tenant_id}-signing_keys`: its target id is `signing_keys`.
  signing: 'signing_keys',
  eml: 'email',
  sub: 'user',
  inv: 'invitation',
  agt: 'agent',
  apr: 'approval',
};

/** One audit-log record: who did what to which target, when, under which request, with the event's data. */
export function auditRecord(event: RecordedEvent) {
  const targetId = streamTarget(event.stream);
  return {
    id: event.id,
    object: 'audit_log_entry',
    position: event.position,
    time: event.time.toISOString(),
    action: event.type,
    actor: { type: event.actor.type, id: event.actor.id },
    target: { type: targetType(targetId), id: targetId },
    tenant_id: event.tenantId,
    correlation_id: event.correlationId,
    causation_id: event.causationId,
    data: event.data,
  };
}

/** What a target is, by its id's prefix (`ten_…` is a tenant); own keys only, so `constructor_…` is itself. */
export function targetType(targetId: string): string {
  const prefix = targetId.includes('_') ? targetId.slice(0, targetId.indexOf('_')) : targetId;
  return Object.hasOwn(TARGET_TYPES, prefix) ? (TARGET_TYPES[prefix] as string) : prefix;
}

/** The raw event as auditors export it: the whole envelope, personal data erased where shredded. */
export function eventRecord(event: RecordedEvent) {
  return {
    id: event.id,
    type: event.type,
    version: event.version,
    stream: event.stream,
    revision: event.revision,
    position: event.position,
    tenant_id: event.tenantId,
    actor: event.actor,
    correlation_id: event.correlationId,
    causation_id: event.causationId,
    time: event.time.toISOString(),
    data: event.data,
  };
}

export function readOptions(tenantId: string, filter: AuditFilter): ReadAllOptions {
  return {
    tenantId,
    ...(filter.since ? { since: filter.since } : {}),
    ...(filter.until ? { until: filter.until } : {}),
    ...(filter.actorId ? { actorId: filter.actorId } : {}),
    ...(filter.actions?.length ? { types: filter.actions } : {}),
    ...(filter.targetId ? { stream: streamName(tenantId, filter.targetId) } : {}),
  };
}

/**
 * A tenant's events from `after` up to the head as it was when the walk began, page by page: the
 * export never holds more than one page, and never runs on into events appended while it streams.
 */
export async function* walkTenantEvents(
  log: EventLog,
  tenantId: string,
  filter: AuditFilter,
  options: { after?: number; pageSize?: number; signal?: AbortSignal } = {},
): AsyncGenerator<RecordedEvent[]> {
  const head = await log.store.headPosition();
  const limit = options.pageSize ?? 2000;
  const read = (after: number) => log.readAll({ ...readOptions(tenantId, filter), after, before: head + 1, limit });
  const after = options.after ?? 0;
  if (after >= head) return;
  let next = read(after);
  try {
    while (!options.signal?.aborted) {
      const page = await next;
      const more = page.events.length === limit && page.checkpoint < head;
      // The next page is read while this one is written out.
      if (more) next = read(page.checkpoint);
      if (page.events.length > 0) yield page.events;
      if (!more) return;
    }
  } finally {
    // A walk abandoned midway (client gone) must not leave a failing read unobserved.
    next.catch(() => {});
  }
}

/**
 * One page of a principal's activity: every event of its own stream (it is the target) or acted by
 * it (its tokens' `oauth.token.issued`, anything else it did), in position order. Two reads, one per
 * index the store has (stream, actor), merged: an event in both appears once.
 */
export async function readActivity(
  log: EventLog,
  tenantId: string,
  principalId: string,
  options: { order: 'asc' | 'desc'; after?: number | undefined; limit: number },
): Promise<{ events: RecordedEvent[]; more: boolean }> {
  const backwards = options.order === 'desc';
  const base = {
    tenantId,
    direction: backwards ? ('backwards' as const) : ('forwards' as const),
    ...(options.after !== undefined ? (backwards ? { before: options.after } : { after: options.after }) : {}),
    limit: options.limit + 1,
  };
  const [target, actor] = await Promise.all([
    log.readAll({ ...base, stream: streamName(tenantId, principalId) }),
    log.readAll({ ...base, actorId: principalId }),
  ]);
  const byPosition = new Map<number, RecordedEvent>();
  for (const event of [...target.events, ...actor.events]) byPosition.set(event.position, event);
  const merged = [...byPosition.values()].sort((a, b) =>
    backwards ? b.position - a.position : a.position - b.position,
  );
  return { events: merged.slice(0, options.limit), more: merged.length > options.limit };
}
