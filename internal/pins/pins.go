//go:build pins

// Package pins keeps the project's required libraries in go.mod before the
// packages that use them land, so every issue builds against the same
// versions (see docs/dependencies.md for why each version was chosen). The
// build tag means it is never compiled; go mod tidy still sees its imports.
package pins

import (
	_ "github.com/anacrolix/torrent"
	_ "github.com/fbsobreira/gotron-sdk/pkg/client"
	_ "github.com/gorilla/websocket"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/pion/webrtc/v4"
	_ "github.com/syumai/workers"
	_ "go.etcd.io/bbolt"
	_ "google.golang.org/genproto/googleapis/api/annotations"
)
