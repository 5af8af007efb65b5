-- Issue 12, duration: when a media's duration was probed (through the proxy), whatever it found,
-- so it is probed once; an unknown duration stays NULL (no auto-advance).
ALTER TABLE media ADD COLUMN duration_probed_at timestamptz;
