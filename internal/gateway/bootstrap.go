package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/storage"
)

// bootstrapKeyName names the key OSSA_ADMIN_KEY or the first start creates.
const bootstrapKeyName = "bootstrap-admin"

// bootstrap makes sure someone can administer the platform: it stores
// adminKey as an admin key if it is not stored yet, or, on the embedded
// store with no key at all, creates an admin key and prints it to out once.
func (s *Service) bootstrap(ctx context.Context, adminKey string, embedded bool, out io.Writer) error {
	if adminKey != "" {
		if err := checkBootstrapKey(adminKey); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		k := storage.APIKey{Name: bootstrapKeyName, Role: string(auth.RoleAdmin), Prefix: shownPrefix(adminKey), Hash: hashKey(adminKey)}
		_, err := s.keys.GetByHash(ctx, k.Hash)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, storage.ErrNotFound):
			return fmt.Errorf("gateway: look up admin key: %w", err)
		}
		// Replicas starting together race here; the loser's conflict means
		// the key exists, which is all that is wanted.
		if err := s.keys.Create(ctx, &k); err != nil && !errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("gateway: store admin key: %w", err)
		}
		s.log.Info("admin key from configuration stored", "key_id", k.ID, "prefix", k.Prefix)
		return nil
	}
	n, err := s.keys.Count(ctx)
	if err != nil {
		return fmt.Errorf("gateway: count API keys: %w", err)
	}
	switch {
	case n > 0:
		return nil
	case !embedded:
		s.log.Warn("no API key exists; set OSSA_ADMIN_KEY to seed the first admin key")
		return nil
	}
	created, err := s.createKey(ctx, storage.APIKey{Name: bootstrapKeyName, Role: string(auth.RoleAdmin)})
	if err != nil {
		return fmt.Errorf("gateway: create the first admin key: %w", err)
	}
	// Printed, never logged: logs are kept and shipped, this is shown once.
	fmt.Fprintf(out, "\nossa: created the first admin API key. It is shown only this once; store it now:\n\n    %s\n\n"+
		"  export OSSA_API_KEY=%s\n  ossa key create --role operator --name ci   # more keys\n\n", created.Secret, created.Secret)
	s.log.Info("first admin key created", "key_id", created.Key.ID, "prefix", created.Key.Prefix)
	return nil
}

// createKey mints a key for the record k (name, role, agent, expiry) and
// stores it.
func (s *Service) createKey(ctx context.Context, k storage.APIKey) (*CreatedKey, error) {
	secret, err := newKey()
	if err != nil {
		return nil, err
	}
	k.Prefix, k.Hash, k.CreatedAt = shownPrefix(secret), hashKey(secret), s.clock()
	if err := s.keys.Create(ctx, &k); err != nil {
		return nil, fmt.Errorf("create API key %s: %w", k.Name, err)
	}
	s.log.InfoContext(ctx, "API key created", "key_id", k.ID, "name", k.Name, "role", k.Role, "agent", k.Agent, "prefix", k.Prefix)
	return &CreatedKey{Key: k, Secret: secret}, nil
}
