-- A user's session generation: a sign-in session is valid only while its user exists and this
-- counter still has the value the session was started under. `user passwd` (and any operator
-- action that ends a user's sessions) increments it; every node reads it from here.
ALTER TABLE users ADD COLUMN session_generation INTEGER NOT NULL DEFAULT 0;
