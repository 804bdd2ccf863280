package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
)

// Participants returns what is known of the people in a sender's incident.
func (s *Store) Participants(ctx context.Context, key string) (ps map[string]timeline.Participant, err error) {
	defer s.timed("participants", &err)()
	h, err := s.rdb.HGetAll(ctx, s.participantsKey(key)).Result()
	if err != nil {
		return nil, s.wrap("participants", err)
	}
	ps = make(map[string]timeline.Participant, len(h))
	for id, raw := range h {
		var p timeline.Participant
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return nil, fmt.Errorf("participants %s: %s: %w", key, id, err)
		}
		ps[id] = p
	}
	return ps, nil
}

// SaveParticipants merges ps into the record in one optimistic transaction and renews its
// retention (Options.ParticipantsTTL).
func (s *Store) SaveParticipants(ctx context.Context, key string, ps []timeline.Participant) (err error) {
	defer s.timed("save_participants", &err)()
	if len(ps) == 0 {
		return nil
	}
	k := s.participantsKey(key)
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	txf := func(tx *redis.Tx) error {
		old, err := tx.HMGet(ctx, k, ids...).Result()
		if err != nil {
			return err
		}
		fields := make([]any, 0, 2*len(ps))
		for i, p := range ps {
			if raw, ok := old[i].(string); ok {
				var prev timeline.Participant
				if json.Unmarshal([]byte(raw), &prev) == nil {
					p = mergeParticipant(prev, p)
				}
			}
			b, err := json.Marshal(p)
			if err != nil {
				return err
			}
			fields = append(fields, p.ID, b)
		}
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.HSet(ctx, k, fields...)
			pipe.Expire(ctx, k, s.participantsTTL)
			return nil
		})
		if err != nil {
			return err
		}
		return s.waitTx(ctx, tx)
	}
	err = watchRetry(ctx, func() error { return s.rdb.Watch(ctx, txf, k) })
	return s.wrap("save participants", err)
}

func mergeParticipant(prev, p timeline.Participant) timeline.Participant {
	out := prev
	if p.RoleRank >= prev.RoleRank && p.Role != "" {
		out.Role, out.RoleRank = p.Role, p.RoleRank
	}
	if p.Level > 0 && (out.Level == 0 || p.RoleRank >= prev.RoleRank) {
		out.Level = p.Level
	}
	if p.Name != "" {
		out.Name = p.Name
	}
	if p.Email != "" {
		out.Email = p.Email
	}
	for _, d := range p.Duties {
		if !slices.Contains(out.Duties, d) {
			out.Duties = append(out.Duties, d)
		}
	}
	if out.FirstSeen.IsZero() || (!p.FirstSeen.IsZero() && p.FirstSeen.Before(out.FirstSeen)) {
		out.FirstSeen = p.FirstSeen
	}
	if p.LastSeen.After(out.LastSeen) {
		out.LastSeen = p.LastSeen
	}
	return out
}
