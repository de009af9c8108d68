// Export: any tensor the views show, as safetensors or .npy, and the model's weights.
import { $, download } from '../dom.js';
import { status, t } from './context.js';

export function setUpExport(engine) {
  const safe = (n) => n.replace(/[^a-z0-9_.-]/gi, '_');
  $('export-st').onclick = async () => {
    const n = $('export-name').value;
    try { download(await engine.exportTensors([n]), `${safe(n)}.safetensors`); } catch (e) { status(t('exportFailed', e.message), true); }
  };
  $('export-npy').onclick = async () => {
    const n = $('export-name').value;
    try { download(await engine.tensorNpy(n), `${safe(n)}.npy`); } catch (e) { status(t('exportFailed', e.message), true); }
  };
  $('export-model').onclick = async () => {
    try {
      const arch = await engine.architecture();
      download(await engine.saveWeights(), `${arch.id ?? 'resnet'}-step${await engine.step()}.safetensors`);
    } catch (e) { status(t('exportFailed', e.message), true); }
  };
  return {
    /** Offers the tensors of one `engine.inspect` answer `v` of layer `m`. */
    offer(m, v, graph) {
      const list = [v.act.name, v.delta.name, v.inputDelta?.name, v.weights && `grad.${v.weights.name}`,
        `act.${graph.modules[0].name}`, `act.${graph.modules.at(-1).name}`].filter(Boolean);
      $('export-name').replaceChildren(...list.map((n) => new Option(n, n)));
    },
  };
}
