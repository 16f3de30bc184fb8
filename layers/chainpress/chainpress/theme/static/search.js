// Site search in the browser (chainpress.search): fetch the term file of each query term,
// rank the articles they list. The tokenizer mirrors search.py's `tokenize` exactly.
import EnglishStemmer from './english-stemmer.js';

const CJK = '\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff';
const TOKEN = new RegExp(`([${CJK}]+)|([0-9a-z\u00e0-\u024f]+)`, 'g');
const STOP = new Set(('a an and are as at be by for from has have in is it its of on or that the '
  + 'this to was were will with').split(' '));
const MAX_QUERY_TERMS = 6;
const MAX_TERM_CHARS = 40;
const SHOWN = 20;
const stemmer = new EnglishStemmer();

export function tokenize(text) {
  const terms = [];
  for (const match of text.normalize('NFKC').toLowerCase().matchAll(TOKEN)) {
    const [, cjk, word] = match;
    if (cjk) {
      if (cjk.length === 1) terms.push(cjk);
      for (let i = 0; i + 1 < cjk.length; i++) terms.push(cjk.slice(i, i + 2));
    } else if (word.length > 1 && word.length <= MAX_TERM_CHARS && !STOP.has(word)) {
      terms.push(stemmer.stemWord(word));
    }
  }
  return terms;
}

function termUrl(term) {
  const hex = Array.from(new TextEncoder().encode(term), (b) => b.toString(16).padStart(2, '0'));
  return `/search/t/${hex.join('')}.json`;
}

async function postings(term) {
  try {
    const answer = await fetch(termUrl(term));
    if (!answer.ok) return [];
    const data = await answer.json();
    return data.t === term ? data.p : [];
  } catch {
    return [];
  }
}

function normal(text) {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

export async function search(query) {
  const terms = [...new Set(tokenize(query))].slice(0, MAX_QUERY_TERMS);
  const lists = await Promise.all(terms.map(postings));
  const found = new Map();
  lists.forEach((list) => {
    for (const [slug, title, date, inTitle] of list) {
      const hit = found.get(slug) || { slug, title, date, score: 0 };
      hit.score += 2 + inTitle;
      found.set(slug, hit);
    }
  });
  const wanted = normal(query);
  for (const hit of found.values()) {
    const title = normal(hit.title);
    if (title === wanted) hit.score += 100;
    else if (wanted && title.includes(wanted)) hit.score += 20;
  }
  return [...found.values()].sort((a, b) => b.score - a.score || (a.date < b.date ? 1 : -1));
}

async function show() {
  const query = new URLSearchParams(location.search).get('q') || '';
  const input = document.getElementById('search-q');
  const status = document.getElementById('search-status');
  const results = document.getElementById('search-results');
  if (!input || !results) return;
  input.value = query;
  if (!query.trim()) return;
  const hits = (await search(query)).slice(0, SHOWN);
  results.replaceChildren(...hits.map((hit) => {
    const item = document.createElement('li');
    const link = document.createElement('a');
    link.href = `/articles/${encodeURIComponent(hit.slug)}/`;
    link.textContent = hit.title;
    const time = document.createElement('time');
    time.dateTime = hit.date;
    time.textContent = hit.date;
    item.append(link, time);
    return item;
  }));
  status.textContent = hits.length ? '' : status.dataset.none;
  results.dataset.ready = '1';
}

if (typeof document !== "undefined") show();
