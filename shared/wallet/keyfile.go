package wallet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrKeystoreExists is returned by CreateKeystoreFile when the destination
// already exists: a keystore is never overwritten, so no key is ever lost.
var ErrKeystoreExists = errors.New("wallet: keystore file already exists")

// CreateKeystoreFile writes data to path atomically and only if path does not
// exist yet: the content goes to a temporary file in the same directory,
// which is synced and then linked into place, so a crash leaves either no
// file or the whole file, never part of one.
func CreateKeystoreFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%w: %s", ErrKeystoreExists, path)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("wallet: writing keystore: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if err := tmp.Chmod(0o600); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("wallet: writing keystore: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("wallet: writing keystore: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("wallet: syncing keystore: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("wallet: writing keystore: %w", err)
	}
	// A hard link fails if path exists, unlike rename, which would replace
	// a file created since the check above.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s", ErrKeystoreExists, path)
		}
		return fmt.Errorf("wallet: writing keystore: %w", err)
	}
	syncDir(dir)
	return nil
}

// ReadKeystoreFile reads a keystore file, refusing anything larger than
// MaxKeystoreSize.
func ReadKeystoreFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wallet: reading keystore: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxKeystoreSize+1))
	if err != nil {
		return nil, fmt.Errorf("wallet: reading keystore %s: %w", path, err)
	}
	if len(data) > MaxKeystoreSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrKeystoreInvalid, path, MaxKeystoreSize)
	}
	return data, nil
}

// syncDir makes a new directory entry durable. Not every platform can open
// a directory for syncing (Windows, Node's fs under wasm); there the entry is
// as durable as the platform makes it.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}
