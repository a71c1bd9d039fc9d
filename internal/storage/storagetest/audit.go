package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

func testAuditAppendList(t *testing.T, s storage.Store) {
	ctx := t.Context()
	page, err := s.Audit().List(ctx, storage.AuditFilter{})
	require.NoError(t, err)
	require.NotNil(t, page.Events)
	require.Empty(t, page.Events)

	e := &storage.AuditEvent{
		Time: oddTime(0), Actor: "key:1", ActorName: "ci", Role: "operator",
		Action: "POST /api/v1/agents", Target: "/api/v1/agents", Status: 201, RequestID: "req-1",
	}
	require.NoError(t, s.Audit().Append(ctx, e))
	require.NotEmpty(t, e.ID)
	require.Equal(t, oddTime(0).UTC().Truncate(time.Microsecond), e.Time)

	page, err = s.Audit().List(ctx, storage.AuditFilter{})
	require.NoError(t, err)
	require.Equal(t, []storage.AuditEvent{*e}, page.Events)

	zero := &storage.AuditEvent{Actor: "key:1", Role: "operator", Action: "DELETE /api/v1/agents/{id}", Target: "/api/v1/agents/x", Status: 204}
	before := time.Now()
	require.NoError(t, s.Audit().Append(ctx, zero))
	require.WithinDuration(t, before, zero.Time, time.Minute, "a zero time is now")
}

func testAuditFiltersAndPages(t *testing.T, s storage.Store) {
	ctx := t.Context()
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	var appended []storage.AuditEvent
	for i := range 12 {
		e := storage.AuditEvent{
			Time:   base.Add(time.Duration(i) * time.Minute),
			Actor:  fmt.Sprintf("key:%d", i%3),
			Role:   "admin",
			Action: []string{"POST /api/v1/agents", "DELETE /api/v1/agents/{id}"}[i%2],
			Target: fmt.Sprintf("/api/v1/agents/%d", i%4),
			Status: 200,
		}
		require.NoError(t, s.Audit().Append(ctx, &e))
		appended = append(appended, e)
	}
	newestFirst := func(pick func(i int, e storage.AuditEvent) bool) []string {
		var out []string
		for i := len(appended) - 1; i >= 0; i-- {
			if pick(i, appended[i]) {
				out = append(out, appended[i].ID)
			}
		}
		return out
	}
	tests := []struct {
		name   string
		filter storage.AuditFilter
		want   []string
	}{
		{"all", storage.AuditFilter{}, newestFirst(func(int, storage.AuditEvent) bool { return true })},
		{"actor", storage.AuditFilter{Actor: "key:1"}, newestFirst(func(i int, _ storage.AuditEvent) bool { return i%3 == 1 })},
		{"action", storage.AuditFilter{Action: "DELETE /api/v1/agents/{id}"}, newestFirst(func(i int, _ storage.AuditEvent) bool { return i%2 == 1 })},
		{"target", storage.AuditFilter{Target: "/api/v1/agents/2"}, newestFirst(func(i int, _ storage.AuditEvent) bool { return i%4 == 2 })},
		{"since until", storage.AuditFilter{Since: base.Add(3 * time.Minute), Until: base.Add(6 * time.Minute)},
			newestFirst(func(i int, _ storage.AuditEvent) bool { return i >= 3 && i < 6 })},
		{"combined", storage.AuditFilter{Actor: "key:0", Action: "POST /api/v1/agents", Since: base.Add(time.Minute)},
			newestFirst(func(i int, _ storage.AuditEvent) bool { return i%3 == 0 && i%2 == 0 && i >= 1 })},
		{"none", storage.AuditFilter{Actor: "key:9"}, nil},
	}
	for _, tc := range tests {
		for _, limit := range []int{0, 2} {
			f := tc.filter
			f.Limit = limit
			var got []string
			for pages := 0; ; pages++ {
				require.Less(t, pages, 20, tc.name)
				page, err := s.Audit().List(ctx, f)
				require.NoError(t, err, tc.name)
				for _, e := range page.Events {
					got = append(got, e.ID)
				}
				if page.NextCursor == "" {
					break
				}
				f.Cursor = page.NextCursor
			}
			require.Equal(t, tc.want, got, "%s (limit %d)", tc.name, limit)
		}
	}
	_, err := s.Audit().List(ctx, storage.AuditFilter{Cursor: "!!"})
	require.ErrorIs(t, err, storage.ErrInvalidCursor)
}
