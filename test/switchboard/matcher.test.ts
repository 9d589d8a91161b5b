import test from 'ava';
import { parseTags, tagsMatch } from '../../switchboard/matcher.js';

test('tag configs split on ";" and ignore blanks', (t) => {
  t.deepEqual(parseTags(' board:x ;; site:y;'), ['board:x', 'site:y']);
  t.deepEqual(parseTags(''), []);
});

test("a supervisor matches when its tags contain all of the job's", (t) => {
  const sup = new Set(['board:x', 'site:y']);
  t.true(tagsMatch(['board:x'], sup));
  t.true(tagsMatch(['site:y', 'board:x'], sup));
  t.true(tagsMatch([], sup));
  t.false(tagsMatch(['board:x', 'board:z'], sup));
  t.false(tagsMatch(['board'], sup));
});
