import { z } from 'zod';

/** `?limit=&starting_after=` for lists ordered by id. */
export const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(100).optional(),
});

/** A list page: `limit + 1` rows were fetched, so an extra row means there is more. */
export function page<Row, Item>(rows: Row[], limit: number, idOf: (row: Row) => string, toJson: (row: Row) => Item) {
  const data = rows.slice(0, limit);
  const last = data[data.length - 1];
  return {
    object: 'list',
    data: data.map(toJson),
    has_more: rows.length > limit,
    next_cursor: rows.length > limit && last ? idOf(last) : null,
  };
}
