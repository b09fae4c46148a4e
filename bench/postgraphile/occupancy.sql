-- Shelter.occupancy for the PostGraphile v5 peer of pora-bench (bench/postgraphile/README.md).
--
-- `occupancy` is the column `shelters.occupancy`: the shelter's open placements (end_date IS
-- NULL), kept by the gateway's migration m20261201_000011_shelter_occupancy (triggers on
-- placements, in the transaction of each write). PostGraphile exposes the column as
-- `Shelter.occupancy` by itself, so both servers read the same stored value.
--
-- Earlier versions of this file defined the computed column `shelters_occupancy(shelters)`
-- (a count per read); v5 would name it `occupancy` too, so it is dropped here. Idempotent;
-- apply it to pora_bench after the gateway has migrated it (or start serve.mjs with
-- --ensure-occupancy), before the schema is built.
DROP FUNCTION IF EXISTS public.shelters_occupancy(public.shelters);

COMMENT ON COLUMN public.shelters.occupancy IS
  'Open placements (end_date IS NULL) in this shelter.';
