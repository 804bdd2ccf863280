package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
)

// Postmortem documents (drafts.Records): one hash per document, replaced only by compare-and-set on
// its version, so replicas sharing this Redis never lose each other's edits or merges. Every key
// carries the store's prefix, a Cluster hash tag, so the scripts' keys share one slot.

// storeDocumentScript replaces a document if its version is the expected one.
//
// KEYS[1] document hash, KEYS[2] documents index. ARGV: id, new version, expected version ("" for
// none), content, metadata. Returns 1, or 0 when the version is another (nothing written).
var storeDocumentScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'v') or ''
if cur ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[4], 'v', ARGV[2], 'm', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
return 1
`)

// addBesideScript keeps a version beside a document if the document's version is the expected one.
//
// KEYS[1] document hash, KEYS[2] beside hash, KEYS[3] beside index. ARGV: id, expected version,
// name, content. Returns 1 (kept), 0 (the name is taken) or -1 (the version is another).
var addBesideScript = redis.NewScript(`
if (redis.call('HGET', KEYS[1], 'v') or '') ~= ARGV[2] then return -1 end
if redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[4]) == 0 then return 0 end
redis.call('SADD', KEYS[3], ARGV[1] .. '\n' .. ARGV[3])
return 1
`)

// LoadDocument returns incident id's postmortem document and its metadata, or an error wrapping
// timeline.ErrNotFound or timeline.ErrUnavailable.
func (s *Store) LoadDocument(ctx context.Context, id string) (content, meta []byte, err error) {
	defer s.timed("load_document", &err)()
	vals, err := s.rdb.HMGet(ctx, s.documentKey(id), "c", "m").Result()
	if err != nil {
		return nil, nil, s.wrap("load postmortem", err)
	}
	c, ok := vals[0].(string)
	if !ok {
		return nil, nil, fmt.Errorf("load postmortem %q: %w", id, timeline.ErrNotFound)
	}
	m, _ := vals[1].(string)
	return []byte(c), []byte(m), nil
}

// StoreDocument replaces incident id's document if its version is ifVersion ("" : if there is
// none), in one step. It returns an error wrapping timeline.ErrPrecondition when the version is
// another, or timeline.ErrUnavailable.
func (s *Store) StoreDocument(ctx context.Context, id, version, ifVersion string, content, meta []byte) (err error) {
	defer s.timed("store_document", &err)()
	if version == "" {
		return fmt.Errorf("store postmortem %q: %w: empty version", id, timeline.ErrInvalid)
	}
	n, err := storeDocumentScript.Run(ctx, s.rdb, []string{s.documentKey(id), s.indexKey(indexDocs)},
		id, version, ifVersion, content, meta).Int()
	if err != nil {
		return s.wrap("store postmortem", err)
	}
	if n == 0 {
		return fmt.Errorf("store postmortem %q: %w: another writer changed it first", id, timeline.ErrPrecondition)
	}
	return nil
}

// DocumentIndex returns every document's metadata by incident id, in one read.
func (s *Store) DocumentIndex(ctx context.Context) (_ map[string][]byte, err error) {
	defer s.timed("document_index", &err)()
	all, err := s.rdb.HGetAll(ctx, s.indexKey(indexDocs)).Result()
	if err != nil {
		return nil, s.wrap("list postmortems", err)
	}
	out := make(map[string][]byte, len(all))
	for id, m := range all {
		out[id] = []byte(m)
	}
	return out, nil
}

// AddBesideDocument keeps content under name beside incident id's document if the document's
// version is still ifVersion (else an error wrapping timeline.ErrPrecondition). A name already
// taken is left as it is: added is false.
func (s *Store) AddBesideDocument(ctx context.Context, id, ifVersion, name string, content []byte) (added bool, err error) {
	defer s.timed("add_beside_document", &err)()
	n, err := addBesideScript.Run(ctx, s.rdb, []string{s.documentKey(id), s.besideKey(id), s.indexKey(indexBeside)},
		id, ifVersion, name, content).Int()
	if err != nil {
		return false, s.wrap("keep a version beside the postmortem", err)
	}
	if n < 0 {
		return false, fmt.Errorf("keep a version beside postmortem %q: %w: another writer changed it first", id, timeline.ErrPrecondition)
	}
	return n == 1, nil
}

// BesideDocuments returns the versions kept beside incident id's document, by name.
func (s *Store) BesideDocuments(ctx context.Context, id string) (_ map[string][]byte, err error) {
	defer s.timed("beside_documents", &err)()
	all, err := s.rdb.HGetAll(ctx, s.besideKey(id)).Result()
	if err != nil {
		return nil, s.wrap("read versions beside the postmortem", err)
	}
	out := make(map[string][]byte, len(all))
	for n, c := range all {
		out[n] = []byte(c)
	}
	return out, nil
}

// BesideIndex returns the names of the versions kept beside every document, by incident id.
func (s *Store) BesideIndex(ctx context.Context) (_ map[string][]string, err error) {
	defer s.timed("beside_index", &err)()
	members, err := s.rdb.SMembers(ctx, s.indexKey(indexBeside)).Result()
	if err != nil {
		return nil, s.wrap("list versions beside postmortems", err)
	}
	out := map[string][]string{}
	for _, m := range members {
		if id, name, ok := strings.Cut(m, "\n"); ok {
			out[id] = append(out[id], name)
		}
	}
	return out, nil
}

// RemoveBesideDocument forgets the version called name beside incident id's document; a name not
// there is no error.
func (s *Store) RemoveBesideDocument(ctx context.Context, id, name string) (err error) {
	defer s.timed("remove_beside_document", &err)()
	remove := func(p redis.Pipeliner) error {
		p.HDel(ctx, s.besideKey(id), name)
		p.SRem(ctx, s.indexKey(indexBeside), id+"\n"+name)
		return nil
	}
	if s.replicas == nil {
		_, err = s.rdb.TxPipelined(ctx, remove)
	} else { // a transaction with its own connection, where WAIT can follow EXEC (replicas.go)
		err = s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			if _, err := tx.TxPipelined(ctx, remove); err != nil {
				return err
			}
			return s.waitTx(ctx, tx)
		})
	}
	return s.wrap("remove a version beside the postmortem", err)
}

// leaseScript takes or renews a lease: KEYS[1] the lease, ARGV holder, TTL in ms. Returns 1 when
// the caller holds it afterwards.
var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// Lease takes the lease called name for holder, or renews it if holder has it already, for ttl.
// It reports whether holder holds it: false while another holder does, until that one stops
// renewing (it died) and the lease lapses. Errors wrap timeline.ErrUnavailable.
func (s *Store) Lease(ctx context.Context, name, holder string, ttl time.Duration) (held bool, err error) {
	defer s.timed("lease", &err)()
	if holder == "" {
		return false, errors.New("lease: empty holder")
	}
	n, err := leaseScript.Run(ctx, s.rdb, []string{s.leaseKey(name)}, holder, ttl.Milliseconds()).Int()
	if err != nil {
		return false, s.wrap("lease "+name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up holder's lease called name, so another holder takes it at once rather than
// after it lapses. It does nothing when holder does not hold it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) (err error) {
	defer s.timed("release_lease", &err)()
	return s.wrap("release lease "+name, unlockScript.Run(ctx, s.rdb, []string{s.leaseKey(name)}, holder).Err())
}
