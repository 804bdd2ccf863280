package redisstore

import (
	"crypto/sha256"
	"encoding/hex"
)

// Key layout. Every key starts with the store's prefix, which is a Redis Cluster hash tag ("{pm}" by
// default), so one Lua script may touch an incident, its group and the indexes in one slot. In a
// Cluster this buys availability, not sharding: postmortemd's data is small.
//
//	{pm}:g:<hash(source, group)>  HASH   cur -> id of the group's open incident
//	                                     last -> id of the group's last resolved incident
//	                                     o:<occurrence key> -> "f" (firing) | "r" (resolved)
//	                                     a:<alias> -> occurrence key of the alias's firing occurrence
//	                                     expires GroupTTL after its last write
//	{pm}:i:<id>                   HASH   the incident's fields (see incidentFields)
//	{pm}:i:<id>:e                 STREAM one entry per event: t -> Unix nanoseconds, e -> event JSON
//	{pm}:i:<id>:s                 SET    services
//	{pm}:i:<id>:d                 HASH   dedupe keys of keyed events already appended (-> 1, or a
//	                                     note's event JSON, so a retried note answers what was stored)
//	{pm}:i:<id>:r                 HASH   event id -> refined role and fact (enrichment), applied on read
//	                                     w:<delivery key> -> 1 for deliveries already applied
//	                                     s:<name>, sa:<name> -> latest value reported, and as of when
//	{pm}:p:<sender's incident>    HASH   person id -> timeline.Participant JSON; expires
//	                                     ParticipantsTTL after its last write; never read by the API
//	{pm}:m:<id>                   STRING id of the incident a merged incident was folded into
//	{pm}:l:<link>                 STRING id of the incident another source's key points at
//	{pm}:x:all                    ZSET   every incident id, scored by start (Unix ms)
//	{pm}:x:active                 ZSET   unresolved incident ids, scored by start
//	{pm}:x:resolved               ZSET   resolved incident ids, scored by start
//	{pm}:rv:<id>                  STRING the incident's review meeting record (drafts/review.Review
//	                                     JSON, with attendee addresses; never served as is); expires
//	                                     ParticipantsTTL after its last write
//	{pm}:x:reviews                SET    incident ids that have a review record (expired ones are
//	                                     removed when Reviews finds them gone)
//	{pm}:lk:<name>                STRING a lock shared by the replicas (Lock): a random token, with
//	                                     a TTL so a dead holder's lock lapses
//	{pm}:ls:<name>                STRING a lease (Lease): its holder's name, with a TTL the holder
//	                                     renews; a dead holder's lease lapses and another takes it
//	{pm}:pm:<id>                  HASH   the incident's postmortem document (documents.go):
//	                                     c -> Markdown, v -> version (ETag), m -> metadata JSON
//	{pm}:pm:<id>:b                HASH   versions kept beside the document: file name -> Markdown
//	{pm}:x:pm                     HASH   incident id -> the document's metadata JSON (the listing)
//	{pm}:x:pmb                    SET    "<id>\n<name>" of every version kept beside a document
//	{pm}:rm:<key>                 HASH   one reminder's delivery (reminders.go): state, attempts,
//	                                     next, lease; expires 3 years after its last attempt
//	{pm}:rg                       HASH   reading-group session UID -> JSON of the postmortems it
//	                                     covered (readinggroup.go); written once per session, kept
//
// RemoveTimeline (retention.go) deletes an incident's i:<id> keys, its review record and its index
// entries once its retention has passed; the rest expires on its own.
//
// The Lua script in script.go builds the per-incident keys from the prefix with the same suffixes;
// keep the two in step.

func (s *Store) groupKey(source, group string) string {
	sum := sha256.Sum256([]byte(source + "\x00" + group))
	return s.prefix + ":g:" + hex.EncodeToString(sum[:16])
}

func (s *Store) incidentKey(id string) string      { return s.prefix + ":i:" + id }
func (s *Store) eventsKey(id string) string        { return s.prefix + ":i:" + id + ":e" }
func (s *Store) refinedKey(id string) string       { return s.prefix + ":i:" + id + ":r" }
func (s *Store) dedupeKey(id string) string        { return s.prefix + ":i:" + id + ":d" }
func (s *Store) servicesKey(id string) string      { return s.prefix + ":i:" + id + ":s" }
func (s *Store) participantsKey(key string) string { return s.prefix + ":p:" + key }
func (s *Store) mergedKey(id string) string        { return s.prefix + ":m:" + id }
func (s *Store) indexKey(name string) string       { return s.prefix + ":x:" + name }
func (s *Store) reviewKey(id string) string        { return s.prefix + ":rv:" + id }
func (s *Store) lockKey(name string) string        { return s.prefix + ":lk:" + name }
func (s *Store) leaseKey(name string) string       { return s.prefix + ":ls:" + name }
func (s *Store) documentKey(id string) string      { return s.prefix + ":pm:" + id }
func (s *Store) besideKey(id string) string        { return s.prefix + ":pm:" + id + ":b" }
func (s *Store) reminderKey(key string) string     { return s.prefix + ":rm:" + key }
func (s *Store) readingGroupKey() string           { return s.prefix + ":rg" }

// Index names, as used by indexKey and by the script.
const (
	indexAll      = "all"
	indexActive   = "active"
	indexResolved = "resolved"
	indexReviews  = "reviews"
	indexDocs     = "pm"
	indexBeside   = "pmb"
)

// Fields of the group hash that make appends idempotent. Versions before the compact format named
// them "o:<occurrence key>" and "a:<alias>" (an occurrence key is "<fingerprint>:<startsAt ns>",
// 40 bytes or so); groups they wrote have no "v" field and are still read that way until they
// expire (see recordScript).
//
//	"o" + 12 bytes of SHA-256(occurrence key) -> "f" | "r"
//	"a" + 8 bytes of SHA-256(alias)           -> the occurrence field of the alias's firing occurrence
//	"v"                                       -> "2": the group was created with hashed fields
func occurrenceField(key string) string { return fieldHash('o', key, 12) }
func aliasField(alias string) string    { return fieldHash('a', alias, 8) }
