"""Volume inference, mapping back to the original frame, tumour candidates, features, evaluation."""
