package redisstore

// WaitCacheFills waits until the read cache has taken in every timeline read cold so far (the
// background fills SortedEvents' Close starts).
func WaitCacheFills(s *Store) {
	if s.cache != nil {
		s.cache.fills.Wait()
	}
}
