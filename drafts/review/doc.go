// Package review schedules the postmortem review meeting of a resolved incident: it decides which
// incidents get one (Policy, in Alertmanager's matcher syntax), finds the earliest free slot in
// working hours after the resolution (Hours.FindSlot), invites everyone who took part and the
// owners of what broke (Invitees), builds the RFC 5545 invitation (Invitation), keeps one stored
// Review per incident with a stable UID and a SEQUENCE that grows when the meeting moves, is
// cancelled or is waived (Scheduler), and delivers it through transports with retries and backoff.
//
// People's addresses live only in the stored Review and the invitation sent to them; the draft and
// every API about incidents see roles and counts. It imports timeline and drafts (types only) and
// libraries (iCalendar, CalDAV, Alertmanager's matchers, Prometheus); never Echo or go-redis: the
// stored state goes through the small Store interface that timeline/redisstore satisfies.
package review
