-- A room ban may end by itself: until a time (NULL: until lifted, as every ban before this).
-- An ended ban no longer refuses a join and is left out of the room's ban list; its row stays
-- until it is lifted or the person is banned again.
ALTER TABLE room_bans ADD COLUMN until timestamptz;
