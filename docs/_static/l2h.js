// A figure drawn larger than the page (a 118-class tree, a 1,000-class circle) opens at full size when clicked:
// the page shows it whole, the click shows it readable.
window.addEventListener('load', () => {
  for (const img of document.querySelectorAll('article .cell_output img')) {
    if (img.naturalWidth <= img.clientWidth * 2.2 || img.closest('a')) continue;
    const link = document.createElement('a');
    link.href = img.src; link.target = '_blank'; link.rel = 'noopener'; link.className = 'l2h-zoom';
    link.title = 'open the figure at full size';
    img.replaceWith(link); link.append(img);
  }
});
