-- The edge tracker's state in D1: the peers of each torrent, and how many
-- completed it. Peers that stop announcing expire (the worker deletes them).
CREATE TABLE IF NOT EXISTS peers (
  info_hash TEXT NOT NULL,    -- 40 hex digits
  addr      TEXT NOT NULL,    -- IP:port as the tracker saw it
  peer_id   TEXT NOT NULL,    -- 40 hex digits
  complete  INTEGER NOT NULL, -- 1 when it has everything (left=0)
  seen      INTEGER NOT NULL, -- unix seconds of its last announce
  PRIMARY KEY (info_hash, addr)
);
CREATE INDEX IF NOT EXISTS peers_seen ON peers (seen);
CREATE TABLE IF NOT EXISTS torrents (
  info_hash  TEXT PRIMARY KEY,
  downloaded INTEGER NOT NULL
);
