-- Shelter.occupancy for the PostGraphile v5 peer of pora-bench (bench/postgraphile/README.md).
--
-- The gateway computes `occupancy` as the number of open placements (end_date IS NULL) in the
-- shelter. PostGraphile exposes a STABLE function `shelters_occupancy(shelters)` as the computed
-- column `Shelter.occupancy`. A single-SELECT SQL function, so PostgreSQL can inline it into the
-- query PostGraphile sends. Idempotent; apply it to pora_bench after seeding (or start
-- serve.mjs with --ensure-occupancy), before the schema is built.
CREATE OR REPLACE FUNCTION public.shelters_occupancy(s public.shelters)
RETURNS integer
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
  SELECT CAST(count(*) AS integer)
    FROM public.placements p
   WHERE p.shelter_id = s.id AND p.end_date IS NULL
$$;

COMMENT ON FUNCTION public.shelters_occupancy(public.shelters) IS
  'Open placements (end_date IS NULL) in this shelter.';
