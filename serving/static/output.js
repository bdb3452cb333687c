// Getting a result out of the page: the clipboard and a downloaded file.

/** Copy `text`; say in `status` whether it worked (the clipboard needs a secure context). */
export async function copyText(text, what, status) {
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = `${what} copied.`;
  } catch (err) {
    status.textContent = `Could not copy (${err.message}); select the text below instead.`;
  }
}

/** Save `result` as <image name without extension>.keypoints.json. */
export function downloadJson(result, imageName) {
  const blob = new Blob([JSON.stringify(result, null, 2)], { type: "application/json" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = imageName.replace(/\.[^.]*$/, "") + ".keypoints.json";
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}
