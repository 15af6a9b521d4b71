"""Deploying a trained model: the model file, ``dgreid.load``, feature extraction, gallery search
(exact or faiss), ONNX export and ranked-list HTML pages."""
